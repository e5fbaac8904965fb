<?php

/**
 * Thrown when no connection to Redis could be made within `connectTimeout`, when Redis refused
 * the connection setup (wrong password: WRONGPASS; database out of range), when an established
 * connection was lost and could not be replaced, or when Redis sent bytes that are not RESP.
 *
 * A connection that a restart or an idle timeout closed is replaced transparently once; this
 * exception means the new connection failed too. The next call tries again.
 */
class RedisLockConnectionException extends RedisLockException {}
