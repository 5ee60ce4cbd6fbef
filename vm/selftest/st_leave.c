// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Harness self-test: every test passes and the exit status is 0, but a
 * child is left running (and would print a failure after its parent
 * exited).
 */
#include <unistd.h>

#include "tap.h"

int main(void)
{
	tap_plan(1);
	tap_ok(1, "passes");
	fflush(stdout);
	if (fork() == 0) {
		sleep(30);
		printf("not ok 2 selftest-late-line\n");
		_exit(0);
	}
	return 0;
}
