// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Harness self-test: a program whose two tests pass. */
#include "tap.h"

int main(void)
{
	tap_plan(2);
	tap_ok(1, "first check passes");
	tap_ok(1 + 1 == 2, "second check passes");
	tap_done();
}
