// libpng 1.6 (Debian: libpng-dev). The project uses the simplified `png_image` API, which
// reports errors through return values and `png_image.message` instead of longjmp.
#include <png.h>
