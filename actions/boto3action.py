"""aws.boto3action: call any boto3 client operation, optionally paginated and followed by a waiter.

Everything is checked before the call (service, operation, waiter name and bounds; botocore
checks the params), so a typo never leaves a half-done change behind. Nothing here is written
per operation: new services and operations work as soon as boto3 knows them.
"""

from lib.action import BaseAction
from lib.aws import (AwsInputError, call_operation, make_client, make_session,
                     resolve_operation, resolve_waiter, run_waiter, to_jsonable,
                     waiter_params_from)

__all__ = ["Boto3Action", "ACTION_TIMEOUT", "check_wait_bounds"]

# The default of the ``timeout`` parameter in boto3action.yaml (a test keeps them equal): st2
# kills the action after it, so a waiter may not wait longer.
ACTION_TIMEOUT = 600


def check_wait_bounds(delay, max_attempts, timeout=ACTION_TIMEOUT):
    """Refuse a waiter that could outlive the action."""
    for name, value in (("waiter_delay", delay), ("waiter_max_attempts", max_attempts)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AwsInputError("%s must be an integer >= 1, got %r" % (name, value))
    if delay * max_attempts > timeout:
        raise AwsInputError(
            "waiter_delay x waiter_max_attempts = %d x %d = %d s is longer than the action's "
            "timeout of %d s (StackStorm would kill it mid-wait); lower them, or wait in the "
            "workflow with a retry" % (delay, max_attempts, delay * max_attempts, timeout))


class Boto3Action(BaseAction):
    def run(self, service, action_name, params=None, region="", credentials=None,
            endpoint_url="", paginate=False, waiter="", waiter_params=None, waiter_delay=15,
            waiter_max_attempts=20):
        params = {} if params is None else params
        if waiter:
            check_wait_bounds(waiter_delay, waiter_max_attempts)
        session = make_session(self.config, region=region or None, credentials=credentials)
        client = make_client(self.config, service, endpoint_url=endpoint_url or None,
                             session=session)
        service = client.meta.service_model.service_name
        method = resolve_operation(client, action_name)
        waiter_name = resolve_waiter(client, waiter) if waiter else None
        self.logger.debug("aws %s.%s: region %s, endpoint %s, identity %s%s",
                          service, method, client.meta.region_name, client.meta.endpoint_url,
                          "from the credentials parameter" if credentials else "of the pack",
                          ", all pages" if paginate else "")

        response = call_operation(client, method, params, paginate=paginate)

        if waiter_name:
            if not waiter_params:
                waiter_params = waiter_params_from(client, waiter_name, params)
            self.logger.debug("aws %s: waiting with %s (every %d s, at most %d attempts)",
                              service, waiter_name, waiter_delay, waiter_max_attempts)
            run_waiter(client, waiter_name, waiter_params, waiter_delay, waiter_max_attempts)
        return to_jsonable(response)
