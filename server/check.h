/* SPDX-License-Identifier: MIT */
/* noxrunnerd --check: what isolation this host provides, for a person who
 * has to fix it. */
#ifndef NXD_CHECK_H
#define NXD_CHECK_H

#include <noxrunner/noxrunner.h>

#include "options.h"

/* Prints the preflight report on stdout. Returns the exit status: 0 when
 * sandboxes can run isolated here, 1 when not (or the check failed). */
int nxd_check_run(const nxd_config *cfg, const nox_client_options *opts);

#endif
