// Package wire declares the JSON documents brazesync's HTTP API answers,
// shared by the server, which writes them, and the client, which reads
// them: one declaration of each, so the two cannot drift apart.
//
// It imports only the standard library; every package of the module may
// import it.
package wire
