package cloudprovider

import (
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
)

// IngressControllerName is the spec.controller of the IngressClasses this CCM serves
// (manifests/ingress declares the class "iaas").
const IngressControllerName = "kube-iaas.io/ingress"

// legacyClassAnnotation is the pre-IngressClass way to pick a controller; still honoured
// because charts keep setting it.
const legacyClassAnnotation = "kubernetes.io/ingress.class"

// ingressClasses answers whether an Ingress is ours: its class (by name, by the legacy
// annotation, or the default class when it names none) has our controller.
type ingressClasses struct {
	lister networkinglisters.IngressClassLister
}

func (c ingressClasses) ours(ing *networkingv1.Ingress) bool {
	name := ""
	switch {
	case ing.Spec.IngressClassName != nil:
		name = *ing.Spec.IngressClassName
	case ing.Annotations[legacyClassAnnotation] != "":
		name = ing.Annotations[legacyClassAnnotation]
	}
	classes, err := c.lister.List(labels.Everything())
	if err != nil {
		return false
	}
	for _, cl := range classes {
		if cl.Spec.Controller != IngressControllerName {
			continue
		}
		if name != "" && cl.Name == name {
			return true
		}
		if name == "" && cl.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
			return true
		}
	}
	return false
}
