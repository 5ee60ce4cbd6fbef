// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Harness self-test: plans three tests, runs two, exits 0. */
#include "tap.h"

int main(void)
{
	tap_plan(3);
	tap_ok(1, "one");
	tap_ok(1, "two");
	return 0;
}
