// The service's state that every layer of the HTTP side reads: set by its
// owner when shutting down, so /readyz turns 503 and answers close their connection.
export interface Lifecycle {
  shuttingDown: boolean;
}
