.PHONY: test test-newest lock st2check demo demo-delete stack-up stack-status stack-down

test:  ## set up everything and run lint and all tests, with the locked versions (what CI runs)
	scripts/test.sh

test-newest:  ## the same tests with the newest versions requirements*.txt allow (.venv-newest)
	VENV=.venv-newest PACK_DEPS=newest scripts/test.sh

lock:  ## refresh requirements.lock and requirements-stack.lock from the ranges (uv pip compile)
	scripts/lock.sh

st2check:  ## the pack in real StackStorm code: ../shared/st2check install, check and e2e
	scripts/st2check.sh

stack-up:
	scripts/stack.sh up

stack-status:
	scripts/stack.sh status

stack-down:
	scripts/stack.sh down

demo:  ## the main job: local servers, CRD, an example Database provisioned until Ready
	scripts/demo.sh

demo-delete:  ## delete the example Database through the delete workflow's tasks
	scripts/demo.sh --delete
