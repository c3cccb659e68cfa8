//! pinion-models: TorchScript policies.
