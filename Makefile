.PHONY: test demo demo-delete stack-up stack-status stack-down

test:  ## set up everything and run lint and all tests (what CI runs)
	scripts/test.sh

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
