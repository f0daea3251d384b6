/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The config file (libconfig syntax). Its keys are run's long options, so
 * one name means one thing everywhere; services are a list of groups:
 *
 *   interfaces = [ "eth0", "eth1" ];
 *   connect-timeout = 5000;
 *   services = ( { protect = "198.19.2.2:80"; auth = "http-basic:/etc/cutthru/users";
 *                  realm = "Intranet"; after-auth = "forward"; } );
 */
#ifndef CUTTHRU_CONFIG_H
#define CUTTHRU_CONFIG_H

#include <stddef.h>

struct config;

/*
 * Reads path into cfg (over what is there). Every error found is put in err
 * as "path:line: what", one per line. Returns 0 or -EINVAL.
 */
int config_file_load(const char *path, struct config *cfg, char *err, size_t errlen);

#endif
