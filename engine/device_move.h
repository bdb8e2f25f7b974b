/* device_move.h - moving a model between devices (PyTorch's net.to(dev))
 * and accounting for the device memory its tensors hold. */
#ifndef BD_DEVICE_MOVE_H
#define BD_DEVICE_MOVE_H

#include "model.h"

/* Moves every parameter and buffer of m (values, gradients and SGD
 * momentum buffers; a tied tensor once) to dev. Everything is copied to
 * dev first and swapped in only when every copy succeeded, so on failure
 * (EDEVMEM with what was asked and what is free, EDEVICE, ENOTFOUND) the
 * model is unchanged and still on its old device. Moving to the device the
 * model is on is a no-op. Values are copied bit for bit. The caller holds
 * m's write lock. */
bd_status bd_model_to(bd_model *m, bd_device dev);

/* Bytes of device memory held by m's tensors (values, gradients, momentum
 * buffers; shared tensors once): one entry per device that holds some, in
 * first-use order, into out[0..cap); *n receives the count (an empty model
 * gives 0). The caller holds a lock on m. Errors: ENOMEM. */
bd_status bd_model_device_bytes(bd_model *m, bd_device_bytes *out, int cap,
                                int *n);

#endif
