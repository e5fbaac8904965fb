<?php

/**
 * Thrown when no connection to Redis could be made within `connectTimeout`, when Redis refused
 * the connection setup (wrong password: WRONGPASS; database out of range), when an established
 * connection was lost and could not be replaced, or when Redis sent bytes that are not RESP.
 * Over TLS (`rediss://`) also when a file of the `ssl` option cannot be used (missing, not PEM,
 * a key the passphrase does not decrypt), when the server's certificate is not accepted
 * (unknown CA, expired, wrong name) or when the server refuses ours; the message names the
 * `ssl` entry to look at, never a path or the passphrase.
 *
 * A connection that a restart or an idle timeout closed is replaced transparently once; this
 * exception means the new connection failed too. The next call tries again.
 */
class RedisLockConnectionException extends RedisLockException {}
