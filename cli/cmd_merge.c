/* cmd_merge.c - `flist merge OUTPUT FLIST FLIST...`: ordered merge, the first
 * flist wins on a name clash (see flist_merge in engine/flist.h). */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_merge(int argc, char **argv, const char *usage)
{
    cli_opts o;
    if (cli_parse(argc, argv, CLI_OPT_JSON, 3, -1, usage, &o) != 0)
        return 2;
    int status = 0, n = o.nargs - 1;
    flist **inputs = calloc((size_t)n, sizeof *inputs);
    if (!inputs) {
        status = cli_fail(&o, "merge", "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (!(inputs[i] = cli_open(&o, "merge", o.args[i + 1], &status)))
            goto out;
    hub_err err;
    flist_stats st;
    if (flist_merge(o.args[0], inputs, (size_t)n, &st, &err) != 0) {
        status = cli_fail(&o, "merge", err.msg);
        goto out;
    }
    if (o.json)
        cli_print_json(json_pack("{sIsIsIsIsIsI}", "regular", (json_int_t)st.regular,
                                 "symlink", (json_int_t)st.symlink,
                                 "directory", (json_int_t)st.directory,
                                 "special", (json_int_t)st.special, "failure", (json_int_t)0,
                                 "fullsize", (json_int_t)st.fullsize));
out:
    if (inputs)
        for (int i = 0; i < n; i++)
            flist_close(inputs[i]);
    free(inputs);
    cli_opts_free(&o);
    return status;
}
