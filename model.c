// placeholder: implemented in its own commit

// the GEMM kernels (gemm.h) are compiled here
#define GEMM_IMPLEMENTATION
#include "gemm.h"
