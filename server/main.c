/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <noxrunner/noxrunner.h>
int main(void)
{
    fprintf(stderr, "noxrunnerd %s: bring-up placeholder\n", nox_version());
    return 1;
}
