// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Harness self-test: hangs after one test; the time limit must end it. */
#include <unistd.h>
#include "tap.h"

int main(void)
{
	tap_plan(2);
	tap_ok(1, "before the hang");
	for (;;)
		pause();
}
