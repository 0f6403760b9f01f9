"""Where records go: the metrics file, TensorBoard, Weights & Biases, the progress bar."""
