<?php
/**
 * Describes classes through Reflection in a form two processes can compare: the one that loads
 * the stubs (without the extension) and the one that loads the extension.
 */

declare(strict_types=1);

namespace RedisLockTests;

/**
 * @param list<string> $classes
 * @return array<string, array<string, mixed>>
 */
function describe_classes(array $classes): array
{
    $out = [];
    sort($classes);
    foreach ($classes as $name) {
        $class = new \ReflectionClass($name);
        $methods = [];
        foreach ($class->getMethods() as $m) {
            if ($m->getDeclaringClass()->getName() !== $class->getName()) {
                continue;
            }
            $params = [];
            foreach ($m->getParameters() as $p) {
                $params[] = [
                    'name' => $p->getName(),
                    'type' => (string) $p->getType(),
                    'optional' => $p->isOptional(),
                    'default' => $p->isDefaultValueAvailable() ? var_export($p->getDefaultValue(), true) : null,
                    'variadic' => $p->isVariadic(),
                    'byRef' => $p->isPassedByReference(),
                    'attributes' => array_map(fn ($a) => $a->getName(), $p->getAttributes()),
                ];
            }
            $methods[$m->getName()] = [
                'static' => $m->isStatic(),
                'public' => $m->isPublic(),
                'final' => $m->isFinal(),
                'abstract' => $m->isAbstract(),
                'return' => (string) $m->getReturnType(),
                'params' => $params,
                'documented' => $m->getDocComment() !== false,
            ];
        }
        ksort($methods);
        $constants = [];
        foreach ($class->getReflectionConstants() as $c) {
            $constants[$c->getName()] = var_export($c->getValue(), true);
        }
        ksort($constants);
        $out[$name] = [
            'parent' => $class->getParentClass() ? $class->getParentClass()->getName() : null,
            'interfaces' => $class->getInterfaceNames(),
            'final' => $class->isFinal(),
            'abstract' => $class->isAbstract(),
            'constants' => $constants,
            'methods' => $methods,
            'documented' => $class->getDocComment() !== false,
        ];
    }
    return $out;
}
