// glibc allocator tuning (`mallopt`), used once by the tensor engine (see TensorStorage).
#include <malloc.h>
