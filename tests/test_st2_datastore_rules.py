"""The test sensor service refuses datastore calls as st2api does (st2_datastore_rules.py)."""

import pytest
import requests
from hypothesis import given, settings, strategies as st

from tests.sensor_service import SensorService
from tests.st2_datastore_rules import MAX_VALUE_BYTES, key_name_problem

_ADDRESSABLE = st.text(st.sampled_from("abcXYZ019._-:~@!$&'()*+,;="), min_size=1, max_size=30)


@settings(max_examples=100, deadline=None)
@given(name=_ADDRESSABLE, value=st.text(max_size=50))
def test_addressable_names_round_trip(name, value):
    service = SensorService()
    assert service.set_value(name, value) is True
    assert service.get_value(name) == value
    assert service.delete_value(name) is True


@settings(max_examples=100, deadline=None)
@given(head=_ADDRESSABLE, bad=st.sampled_from(["/", "%2F", "?", "#", " ", "\n", "%"]),
       tail=_ADDRESSABLE)
def test_names_st2api_cannot_address_fail_as_there(head, bad, tail):
    service = SensorService()
    name = head + bad + tail
    with pytest.raises(requests.exceptions.HTTPError, match="404 Client Error"):
        service.set_value(name, "x")
    assert service.get_value(name) is None  # st2's get_value turns the 404 into None
    assert service.delete_value(name) is False


def test_the_sensors_full_key_names_are_checked():
    service = SensorService()
    assert key_name_problem("aws.CustomResourceSensor:crs.dbaas.stackstorm.com.v1alpha1."
                            "databases._all.meta") is None
    assert "'/'" in key_name_problem("aws.CustomResourceSensor:crs/dbaas")
    with pytest.raises(requests.exceptions.HTTPError):
        service.set_value("crs/x", "v")


def test_values_are_stored_as_text_and_bounded_by_a_mongodb_document():
    service = SensorService()
    service.set_value("n", 5)
    assert service.get_value("n") == "5"
    with pytest.raises(requests.exceptions.HTTPError,
                       match="(?s)500 Server Error.*DocumentTooLarge"):
        service.set_value("big", "x" * (MAX_VALUE_BYTES + 1))
