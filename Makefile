.PHONY: test demo stack-up stack-status stack-down bench

test:  ## set up everything and run lint and all tests (what CI runs)
	scripts/test.sh

stack-up:
	scripts/stack.sh up

stack-status:
	scripts/stack.sh status

stack-down:
	scripts/stack.sh down
