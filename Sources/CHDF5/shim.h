#ifndef CHDF5_SHIM_H
#define CHDF5_SHIM_H
#include <hdf5.h>
#include <stdio.h>

/* HDF5's type and property-list "constants" are macros over *_g globals that
 * Swift 6 refuses (not concurrency-safe) or cannot import at all. Each one is
 * re-exported here as a static inline function. */
static inline hid_t chdf5_native_float(void)  { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_native_int32(void)  { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_native_int64(void)  { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_native_uint8(void)  { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_native_int8(void)   { return H5T_NATIVE_INT8; }
static inline hid_t chdf5_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t chdf5_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t chdf5_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t chdf5_ieee_f32le(void)    { return H5T_IEEE_F32LE; }
static inline hid_t chdf5_ieee_f64le(void)    { return H5T_IEEE_F64LE; }
static inline hid_t chdf5_std_i32le(void)     { return H5T_STD_I32LE; }
static inline hid_t chdf5_std_i64le(void)     { return H5T_STD_I64LE; }
static inline hid_t chdf5_std_u8le(void)      { return H5T_STD_U8LE; }
static inline hid_t chdf5_std_i8le(void)      { return H5T_STD_I8LE; }
static inline hid_t chdf5_std_u64le(void)     { return H5T_STD_U64LE; }
static inline hid_t chdf5_c_s1(void)          { return H5T_C_S1; }
static inline size_t chdf5_variable(void)     { return H5T_VARIABLE; }

static inline unsigned chdf5_acc_trunc(void)  { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_acc_excl(void)   { return H5F_ACC_EXCL; }
static inline unsigned chdf5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_acc_rdwr(void)   { return H5F_ACC_RDWR; }

static inline hsize_t chdf5_unlimited(void)   { return H5S_UNLIMITED; }
static inline hid_t chdf5_default(void)       { return H5P_DEFAULT; }
static inline hid_t chdf5_s_all(void)         { return H5S_ALL; }

static inline hid_t chdf5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_p_dataset_access(void) { return H5P_DATASET_ACCESS; }
static inline hid_t chdf5_p_dataset_xfer(void)   { return H5P_DATASET_XFER; }
static inline hid_t chdf5_p_file_access(void)    { return H5P_FILE_ACCESS; }
static inline hid_t chdf5_p_file_create(void)    { return H5P_FILE_CREATE; }
static inline hid_t chdf5_p_link_create(void)    { return H5P_LINK_CREATE; }

/* Silence HDF5's own error-stack printing: the store reports errors itself. */
static inline void chdf5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
/* HDF5's error stack as text (innermost last), so a failing call can be reported
 * with HDF5's own reason (e.g. "data error detected by Fletcher32 checksum").
 * Safe to call when the stack is empty; always NUL-terminates. */
typedef struct { char *buf; size_t cap; size_t len; } chdf5_error_text_state;
static inline herr_t chdf5_error_text_cb(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    chdf5_error_text_state *st = (chdf5_error_text_state *)data;
    const char *desc = (e && e->desc) ? e->desc : "";
    int w = snprintf(st->buf + st->len, st->cap - st->len, "%s%s", st->len ? "; " : "", desc);
    if (w > 0) { st->len += (size_t)w; if (st->len >= st->cap) st->len = st->cap - 1; }
    return 0;
}
static inline void chdf5_error_text(char *buf, size_t cap) {
    if (cap == 0) return;
    buf[0] = 0;
    chdf5_error_text_state st = { buf, cap, 0 };
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, chdf5_error_text_cb, &st);
}
static inline void chdf5_clear_errors(void) { H5Eclear2(H5E_DEFAULT); }
static inline unsigned chdf5_cache_config_version(void) { return H5AC__CURR_CACHE_CONFIG_VERSION; }
#endif
