<?php

/**
 * Thrown when Redis answered with an error reply, for example `WRONGTYPE` (the key holds a
 * hash, list, ... used by something else), `NOAUTH` (a password is required but the DSN has
 * none), `READONLY` (the DSN points at a replica) or `OOM` (maxmemory reached). The message
 * is Redis's own, after the operation's name.
 */
class RedisLockServerException extends RedisLockException {}
