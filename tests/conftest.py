pytest_plugins = ["tests.stack_plugin"]
