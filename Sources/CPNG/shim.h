#ifndef CPNG_SHIM_H
#define CPNG_SHIM_H
#include <png.h>
/* The simplified png_image API (the classic one needs setjmp, which Swift cannot
 * use). Format values built from other macros and the function-like macros are
 * not imported by Swift; expose what the decoder needs. */
static inline unsigned cpng_image_version(void) { return PNG_IMAGE_VERSION; }
static inline unsigned cpng_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline unsigned cpng_format_rgba(void) { return PNG_FORMAT_RGBA; }
static inline unsigned cpng_flag_16bit_srgb(void) { return PNG_IMAGE_FLAG_16BIT_sRGB; }
/* Non-zero when png_image's warning_or_error records an error (not a warning). */
static inline int cpng_image_failed(png_imagep image) { return PNG_IMAGE_FAILED(*image); }
#endif
