import assert from 'node:assert/strict';

/**
 * Asserts that an AWS SDK call fails with this service error code (the SDK's `error.name`) and
 * HTTP status, and optionally a message: the lab's API tests compare its errors with AWS's
 * documented ones this way, whatever the service (EC2, IAM, S3).
 */
export async function rejectsWithSdkError(promise: Promise<unknown>, code: string, status: number, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(error.name, code, `${error.name}: ${error.message}`);
    assert.equal(error.$metadata?.httpStatusCode, status);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
}
