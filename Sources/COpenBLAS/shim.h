// OpenBLAS CBLAS interface (Debian: libopenblas-dev; include path from pkg-config `openblas`).
#include <cblas.h>
// Declared by OpenBLAS; re-declared here so that Swift sees them regardless of header variant.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);
