#ifndef CPNG_SHIM_H
#define CPNG_SHIM_H
#include <png.h>
/* PNG_IMAGE_VERSION and the format macros are plain ints Swift may import, but
 * PNG_IMAGE_SIZE is a function-like macro; expose what the decoder needs. */
static inline unsigned cpng_image_version(void) { return PNG_IMAGE_VERSION; }
static inline unsigned cpng_format_rgb(void) { return PNG_FORMAT_RGB; }
#endif
