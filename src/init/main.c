/* SPDX-License-Identifier: MIT */
#include <stdio.h>
int main(void)
{
    fputs("nox-init: bring-up placeholder\n", stderr);
    return 1;
}
