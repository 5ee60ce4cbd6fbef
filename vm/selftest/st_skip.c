// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Harness self-test: skips as a whole. */
#include "tap.h"

int main(void)
{
	tap_skip_all("selftest-expected-skip");
}
