import TensorKernels

/// Invalid input to a loss or to the training objective (bad labels, batch too
/// small, a term enabled without the data it needs): `op` names the loss, e.g.
/// "[cross-entropy] label 10 at row 3 outside 0..<10". The numeric core's error
/// type serves as is: a place and a message.
public typealias LossError = TensorError

/// A network refused its input, its weights or a call order: `op` names the
/// layer (parameter-name prefix), the network or the weight file.
public typealias NetworkError = TensorError
