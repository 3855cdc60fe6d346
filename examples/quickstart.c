/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <noxrunner/noxrunner.h>
int main(void)
{
    printf("libnoxrunner %s\n", nox_version());
    return 0;
}
