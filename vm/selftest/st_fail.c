// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Harness self-test: the second test fails ("not ok"). */
#include "tap.h"

int main(void)
{
	tap_plan(2);
	tap_ok(1, "this one passes");
	tap_ok(0, "selftest-expected-failure");
	tap_done();
}
