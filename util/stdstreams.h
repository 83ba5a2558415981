/* The command-line tools' last step: results that could not reach stdout or stderr are a
 * failure (exit status 6), never a silent success. */
#ifndef ADEAD_STDSTREAMS_H
#define ADEAD_STDSTREAMS_H

/* Flushes stdout and stderr. Returns rc, or ADEAD_E_IO (6) when rc is 0 and either stream lost
 * a write (saying so on stderr when stderr still works). */
int stdstreams_finish(const char *tool, int rc);

/* A write past `ulimit -f` fails with EFBIG instead of killing the process (SIGXFSZ), so the
 * tool can clean up and say what happened. */
void stdstreams_ignore_file_size_signal(void);

#endif
