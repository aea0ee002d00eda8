"""The base action's config access: clear errors that name the config key."""

import pytest

from lib.action import ConfigError, config_value


def test_present_value_is_returned():
    assert config_value({"region": "eu-west-1"}, "region") == "eu-west-1"


def test_missing_optional_value_gives_default():
    assert config_value({}, "endpoint_url") is None
    assert config_value({"retry_mode": ""}, "retry_mode", default="standard") == "standard"


def test_missing_required_value_names_the_key():
    with pytest.raises(ConfigError) as err:
        config_value({"vault_url": ""}, "vault_url", required=True)
    assert 'pack config key "vault_url" is required' in str(err.value)


def test_wrong_type_names_the_key_and_types():
    with pytest.raises(ConfigError) as err:
        config_value({"consul_port": "8500"}, "consul_port", kind=int)
    assert str(err.value) == 'pack config key "consul_port" must be of type int, got str'
