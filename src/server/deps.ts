import type { Config } from '../config.js';
import type { CatalogWriter } from '../app/catalogWriter.js';
import type { Services } from '../app/services.js';

/**
 * What the route plugins are given (as plugin options, from buildApp's arguments): they never import a
 * singleton. Each handler parses the request, makes one call into a service (most often the query pipeline) and
 * returns a view.
 */
export interface ApiDeps {
  readonly svc: Services;
  readonly config: Config;
  /** The write path (PUT, PATCH, DELETE of items). */
  readonly writer: CatalogWriter;
}
