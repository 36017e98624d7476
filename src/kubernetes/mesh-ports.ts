// The node mesh listeners' default ports on Kubernetes (`weft agent --mesh-*-port`), apart from the mesh view
// (mesh-view.ts) so that the CLI names them without loading it.
export const DEFAULT_MESH_OUTBOUND_PORT = 15002;
export const DEFAULT_MESH_INBOUND_PORT = 15443;
export const DEFAULT_MESH_TRANSPARENT_PORT = 15003;
