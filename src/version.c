/* version.c - lext_version(): the version of the library that is linked, as opposed to
 * LEXT_VERSION, the version of the header a program was compiled with. */
#include "lext.h"

const char *lext_version(void) { return LEXT_VERSION; }
