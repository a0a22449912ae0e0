# Shortcuts for those who have make; the README's commands need only bash.
.PHONY: run test
run:
	bash run.sh
test:
	bash tests/run.sh
