/* Checked ends for the tools' standard streams (stdstreams.h). */
#include "stdstreams.h"

#include "../include/adeadvm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

int stdstreams_finish(const char *tool, int rc)
{
    errno = 0;
    int out_bad = fflush(stdout) != 0 || ferror(stdout);
    int saved = errno;
    if (out_bad) {
        fprintf(stderr, "%s: cannot write to standard output: %s\n", tool, saved ? strerror(saved) : "write error");
        if (!rc) rc = ADEAD_E_IO;
    }
    if ((fflush(stderr) != 0 || ferror(stderr)) && !rc) rc = ADEAD_E_IO;
    return rc;
}

void stdstreams_ignore_file_size_signal(void)
{
#ifdef SIGXFSZ
    signal(SIGXFSZ, SIG_IGN);
#endif
}
