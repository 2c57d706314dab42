import * as apigateway from 'aws-cdk-lib/aws-apigateway';

/** Throttling of one method. */
export interface MethodThrottling {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/**
 * Gives `method` its own throttling on the deployment stage of its API, which may be owned by
 * another construct: API Gateway throttles per method only through the stage's method settings,
 * and the L2 `Stage` accepts them only at construction. The new method setting copies the
 * stage-wide one (`/*` `*`: logging, metrics, data trace) and overrides the throttling, so the
 * method keeps the stage's logging.
 *
 * Throws when the stage was not defined in this app (an imported stage cannot be changed).
 */
export function throttleMethod(method: apigateway.Method, throttling: MethodThrottling, owner: string): void {
  const stage = method.api.deploymentStage;
  const cfnStage = stage.node.defaultChild;
  if (!(cfnStage instanceof apigateway.CfnStage)) {
    throw new Error(`${owner}: per-route throttling needs the API's deployment stage to be defined in this app; ${stage.node.path} is not.`);
  }
  const current = cfnStage.methodSettings ?? [];
  if (!Array.isArray(current)) {
    throw new Error(`${owner}: the method settings of stage ${stage.node.path} are a token; per-route throttling cannot be added to them.`);
  }
  const settings = current as apigateway.CfnStage.MethodSettingProperty[];
  const stageWide = settings.find((s) => s.resourcePath === '/*' && s.httpMethod === '*');
  // Resource paths in method settings escape '/' as '~1': /admin/{proxy+} -> /~1admin~1{proxy+}.
  const resourcePath = `/${method.resource.path.replace(/\//g, '~1')}`;
  cfnStage.methodSettings = [
    ...settings,
    {
      ...stageWide,
      resourcePath,
      httpMethod: method.httpMethod,
      throttlingRateLimit: throttling.rateLimit,
      throttlingBurstLimit: throttling.burstLimit,
    },
  ];
}
