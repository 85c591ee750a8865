package io.jkvm.storage;

import java.io.IOException;

/**
 * A disk image's lock is held by another user (another VMM, another open in this one): the
 * refusal of fcntl F_OFD_SETLK with EAGAIN or EACCES. Apart from other I/O failures because a
 * caller may wait for the holder to let go ({@link ImageLocks#retake}); nothing else is worth
 * retrying.
 */
public final class ImageInUseException extends IOException {
    public ImageInUseException(String message) {
        super(message);
    }
}
