/* config_import.h - `flist-hub-api config-import config.py`: the original
 * hub's configuration (threefoldtech/0-hub src/config.py, HUB-API.md §14)
 * converted to this hub's configuration file format.
 *
 * The file is read as data, never run: only the assignment `config = {...}`
 * is parsed, a dict literal of Python strings, bytes (b'...'), integers,
 * True/False/None, lists, sets and tuples of strings, and a dict of strings
 * (threebot-users-map). Keys without an equivalent (ignored-files, zflist-bin,
 * docker-work-directory, iyo-*) become comments saying why; unknown keys
 * become comments too and are reported on the warning stream.
 */
#ifndef API_CONFIG_IMPORT_H
#define API_CONFIG_IMPORT_H

#include <stdio.h>

#include "hub_err.h"

/* Converts the config.py text (len bytes) to configuration lines written to
 * out; notes for the operator go to warn (may be NULL). Returns 0, or -1
 * with err (HUB_E_INVALID: the text's line and what was expected, or a
 * value that cannot be converted, such as a threebot-seed that is not 32
 * bytes). Nothing is written to out on failure. */
int config_import_py(const char *text, size_t len, FILE *out, FILE *warn, hub_err *err);

/* Reads the file at path and converts it (config_import_py). Returns 0 or
 * -1 with err. */
int config_import_file(const char *path, FILE *out, FILE *warn, hub_err *err);

#endif
