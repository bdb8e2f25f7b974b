/* hd.h - BD_HD, the qualifier of a function that both the C backends and
 * CUDA kernels call: host-and-device inline under nvcc, static inline in
 * C. Header-only math (philox.h, opmath.h) is written once with it. */
#ifndef BD_HD_H
#define BD_HD_H

#ifdef __CUDACC__
#define BD_HD __host__ __device__ __forceinline__
#else
#define BD_HD static inline
#endif

#endif
