"""Base class of the pack's Python actions: reads the pack config with clear errors."""

from st2common.runners.base_action import Action

__all__ = ["BaseAction", "ConfigError", "config_value"]

_MISSING = object()


class ConfigError(ValueError):
    """The pack config lacks a key an action needs, or holds a value of the wrong kind."""


def config_value(config, key, default=_MISSING, required=False, kind=None):
    """Return ``config[key]``; a missing required key raises an error naming the key.

    Empty strings count as missing, as StackStorm renders unset optional keys that way.
    """
    value = (config or {}).get(key)
    if value in (None, ""):
        if required:
            raise ConfigError(
                'pack config key "%s" is required: set it in /opt/stackstorm/configs/aws.yaml '
                "(see aws.yaml.example)" % key
            )
        return None if default is _MISSING else default
    if kind is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(
            'pack config key "%s" must be of type %s, got %s'
            % (key, names, type(value).__name__)
        )
    return value


class BaseAction(Action):
    """Actions of this pack derive from this class and read config through ``config_value``."""

    def config_value(self, key, default=_MISSING, required=False, kind=None):
        return config_value(self.config, key, default=default, required=required, kind=kind)
