/* cuda.h — the CUDA backend's C entry points (src/ops/cuda/cuda.cu; only in
 * a `make CUDA=1` build, where CT_HAVE_CUDA is defined).  NOT YET RUN ON A GPU. */
#ifndef CT_OPS_CUDA_H
#define CT_OPS_CUDA_H
#include <stddef.h>
#include "ops/ops.h"

/* The tables: float32 products (cublasSgemm), bf16 products (cublasGemmEx). */
const ct_backend *ct_backend_cuda(void);
const ct_backend *ct_backend_cuda_bf16(void);
/* Chooses GPU `device` and creates the process's stream and cuBLAS handle;
 * -1 with a one-line msg when there is no such GPU (or none at all). */
int ct_cuda_select(int device, char *msg, size_t n);
/* Waits for the stream; -1 with the first recorded CUDA/cuBLAS error in msg. */
int ct_cuda_status(char *msg, size_t n);
/* cudaMemGetInfo of the selected GPU; -1 when none. */
int ct_cuda_mem_info(size_t *free_bytes, size_t *total_bytes);
#endif
