package auth

// RPCActions maps every RPC of the public API ("Service/Method", the
// service without its package) to the action it needs. An RPC missing
// here is refused to every principal when authentication is on: a new RPC
// must be added before anyone can call it (auth_test checks the table
// against the services' descriptors).
//
// QueueService RPCs check the action against the queue they name
// (CreateQueue: the new queue's name). ListQueues names no queue: it needs
// get_queue on some pattern and lists only the queues get_queue is held
// on. ClusterService and AdminService RPCs are cluster-wide.
var RPCActions = map[string]Action{
	"QueueService/CreateQueue":                  CreateQueue,
	"QueueService/DeleteQueue":                  DeleteQueue,
	"QueueService/ListQueues":                   GetQueue,
	"QueueService/GetQueue":                     GetQueue,
	"QueueService/UpdateQueue":                  UpdateQueue,
	"QueueService/PurgeQueue":                   Purge,
	"QueueService/SendMessage":                  Send,
	"QueueService/SendMessageBatch":             Send,
	"QueueService/ReceiveMessage":               Receive,
	"QueueService/DeleteMessage":                Delete,
	"QueueService/DeleteMessageBatch":           Delete,
	"QueueService/ChangeMessageVisibility":      Delete,
	"QueueService/ChangeMessageVisibilityBatch": Delete,

	"ClusterService/GetClusterStatus": ClusterAdmin,
	"ClusterService/AddNode":          ClusterAdmin,
	"ClusterService/RemoveNode":       ClusterAdmin,

	"AdminService/CreatePrincipal":  ClusterAdmin,
	"AdminService/ListPrincipals":   ClusterAdmin,
	"AdminService/DeletePrincipal":  ClusterAdmin,
	"AdminService/CreateAccessKey":  ClusterAdmin,
	"AdminService/RevokeAccessKey":  ClusterAdmin,
	"AdminService/GrantPermission":  ClusterAdmin,
	"AdminService/RevokePermission": ClusterAdmin,
}
