//! kiln-caffe: reads a Caffe network description (`deploy.prototxt`, protobuf text format) and
//! its trained weights (`.caffemodel`, binary protobuf) into a Kiln core graph.
