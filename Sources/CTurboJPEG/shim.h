#ifndef CTURBOJPEG_SHIM_H
#define CTURBOJPEG_SHIM_H
#include <turbojpeg.h>
/* Debian 12 ships libjpeg-turbo 2.1.5: the tjDecompress2 API (tj3* arrived in 3.0).
 * TJFLAG_* are plain int macros and the enums import directly; nothing to wrap. */
#endif
